"""On-call schedules: rotations, layers, restrictions, overrides; who is on call, and when."""
