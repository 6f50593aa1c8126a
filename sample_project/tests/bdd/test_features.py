"""Every scenario of every ``.feature`` file, each at the fidelities its tags allow."""

from pytest_bdd import scenarios

scenarios(".")
