"""One router module per resource; app.py joins them."""
