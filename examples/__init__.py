"""Networks registered through the public API, as a user of the harness would write them."""
