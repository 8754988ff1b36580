"""Training: quality sets from the shared data, students, distillation and their recipes."""
