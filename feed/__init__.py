"""Live stock events: a bounded, outage-tolerant broadcast and what rides on it."""
