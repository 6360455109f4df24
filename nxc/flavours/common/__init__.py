"""Mechanics every flavour may use: recognising the processes and run folders nxc made
(:mod:`.processes`) and asking a node's SSH server for its pinned host key (:mod:`.sshready`)."""
