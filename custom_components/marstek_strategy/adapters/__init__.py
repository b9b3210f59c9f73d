"""Home Assistant in and out: states read, service calls made, stores, discovery."""
