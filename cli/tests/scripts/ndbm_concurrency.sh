#!/bin/bash
# Issue 16, observed item 1, as a script against a pydbm binary: a `pydbm apply --type ndbm`
# writer of 6,000 sets with a loop of `pydbm keys` readers beside it, then two writers at
# once. A run is bad when db5.3_verify rejects the file, an acknowledged key is missing, a
# process dies by a signal, or a writer fails other than "locked".
# Usage: cli/tests/scripts/ndbm_concurrency.sh PATH/TO/pydbm [RUNS]   (default 9 runs each)
# Needs db5.3_verify (db5.3-util) and python3.
set -u
P=$(realpath "$1"); RUNS=${2:-9}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; cd "$work"
python3 -c "
for i in range(6000): print('set %s %s' % (('k%05d'%i).encode().hex(), ('v%05d'%i).encode().hex()*3))
" > a.txt
python3 -c "
for i in range(6000): print('set %s %s' % (('j%05d'%i).encode().hex(), ('w%05d'%i).encode().hex()*3))
" > b.txt
bad1=0; bad2=0; rerr=0; rlocked=0; rok=0
for run in $(seq $RUNS); do
  rm -f db.db*
  $P apply --type ndbm db < a.txt > /dev/null 2> w.err & W=$!
  while kill -0 $W 2>/dev/null; do
    out=$($P keys --type ndbm db 2>&1 >/dev/null); rc=$?
    if [ $rc = 0 ]; then rok=$((rok+1)); elif echo "$out" | grep -q "locked by another"; then rlocked=$((rlocked+1)); else rerr=$((rerr+1)); fi
  done
  wait $W; wrc=$?
  n=$($P keys --type ndbm db 2>/dev/null | wc -l)
  if ! db5.3_verify db.db >/dev/null 2>&1 || [ $wrc != 0 ] || [ $n != 6000 ]; then bad1=$((bad1+1)); fi
done
echo "writer+reader loop: $bad1 of $RUNS runs corrupt or lost keys; reader runs ok $rok, locked $rlocked, other errors $rerr"
for run in $(seq $RUNS); do
  rm -f db.db*
  $P apply --type ndbm db < a.txt > /dev/null 2> w1.err & W1=$!
  $P apply --type ndbm db < b.txt > /dev/null 2> w2.err & W2=$!
  wait $W1; r1=$?; wait $W2; r2=$?
  want=0; [ $r1 = 0 ] && want=$((want+6000)); [ $r2 = 0 ] && want=$((want+6000))
  n=$($P keys --type ndbm db 2>/dev/null | wc -l)
  sig=0; [ $r1 -gt 128 ] && sig=1; [ $r2 -gt 128 ] && sig=1
  oklock=1; for f in w1.err w2.err; do [ -s $f ] && ! grep -q "locked by another" $f && oklock=0; done
  if ! db5.3_verify db.db >/dev/null 2>&1 || [ $n != $want ] || [ $sig = 1 ] || [ $oklock = 0 ]; then bad2=$((bad2+1)); fi
done
echo "two writers: $bad2 of $RUNS runs corrupt, lost keys, died by signal or failed other than locked"
