"""Pure query logic: trace trees, critical path, service graph and RED maths. No I/O."""
