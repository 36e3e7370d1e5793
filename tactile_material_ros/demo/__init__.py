"""The `make demo` run: bringup + a client that palpates every scene object, and its report."""
