"""Live stock events: a bounded, outage-tolerant broadcast and what rides on it (opened by
bootstrap/resources.py; followed by resolvers/ and web/, fed by service/ after commit)."""
