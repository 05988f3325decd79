# Near miss: a trap on EXIT ends the jobs.
trap 'kill $(jobs -p)' EXIT
tail -f log &
