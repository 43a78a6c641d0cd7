"""Sensors: job intake from the bucket, and run-status sensors that keep the job table and notify."""
