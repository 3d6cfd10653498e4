"""Offline demo and test infrastructure: certificates with chosen defects, a loopback HTTPS
media server with Range support and switchable faults, and a generated mirror of lesson 13."""
