"""The ``docker`` flavour (:mod:`.flavour`) and its machinery: its options (:mod:`.options`)
and record sections (:mod:`.record`), the engine connection and labels (:mod:`.engine`), what
each container gets (:mod:`.containers`), published ports and volumes (:mod:`.publish`), the
``docker-compose.yml`` left beside the record (:mod:`.compose_file`)."""
