"""Running a node the way an IT department runs services: metrics and health on the admin address."""
