"""The second worked task: fundus photographs synthesised from vessel maps
(conf/task/synthesis.yaml)."""
