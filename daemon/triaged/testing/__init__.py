"""Test helpers shipped with the package: fake clock, recording notifier, fake OCI."""
