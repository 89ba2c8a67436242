"""Live stock events: a bounded, outage-tolerant broadcast and what rides on it (opened by
server.py; followed by resolvers/ and web/, fed by service/ after commit)."""
