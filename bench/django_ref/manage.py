#!/usr/bin/env python
"""The tutorial's Django backend (same-origin approach), for the benchmark."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoref.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
