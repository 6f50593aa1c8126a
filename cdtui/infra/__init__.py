"""Infrastructure drivers behind the ``cloudformation:`` and ``ansible:`` stage kinds: boto3 and
``ansible-playbook`` work, kept apart from the stage kinds' async orchestration."""
