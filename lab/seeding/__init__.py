"""The lab's Django app: the database records of a cluster on the lab, and `seed_lab`.

Installed only where the lab is in use (FABRIC_LAB=1: `make demo`, the test command); the
product's apps never import it, and the rest of lab/ knows no Django.
"""
