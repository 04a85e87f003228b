"""Both sides of a case run: ``start`` (initial parameters and schedule), ``scratch`` and ``twin`` (each side
recorded as a trace), ``memo`` (each case's runs computed once and handed to the checks)."""
