"""Ansible plugins cdtui ships (``ANSIBLE_CALLBACK_PLUGINS`` points here)."""
