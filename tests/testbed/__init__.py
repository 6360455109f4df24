"""The test-bed guest: a small Linux built from Debian packages that follows the node contract.

NixOS images cannot be built without nixpkgs, so this guest stands in for them in the tests.
``python -m tests.testbed.build --variant busybox --out DIR`` writes ``vmlinuz``, ``initrd`` and
``testbed.json``; ``tests.testbed.launch`` boots it under QEMU for the test bed's own tests.
See docs/testbed.md.
"""
