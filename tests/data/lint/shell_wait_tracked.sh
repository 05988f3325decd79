#!/bin/bash
# Near miss: a & followed by wait.
make -C a &
make -C b &
wait
