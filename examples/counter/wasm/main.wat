;; The root process: runs a pool of workers against the counter service and
;; prints what happened.
;;
;;   1. find the counter service by name (it is resident, so it boots with
;;      the node; retry briefly in case it is not registered yet);
;;   2. read the total;
;;   3. spawn WORKERS workers, linked, each told to add N and, every
;;      CRASH_EVERY-th one, to crash afterwards;
;;   4. count their ends: each worker is monitored (a `down` for every end,
;;      whatever the reason), and exits are trapped, so a crashed worker
;;      arrives as an `exit` message instead of taking this process down;
;;   5. read the total again and print one line on stdout.
;;
;; Anything unexpected goes to stderr and ends the run with exit code 1.
(module
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "make_ref" (func $make_ref (result i64)))
  (import "rusm" "monitor" (func $monitor (param i64) (result i64)))
  (import "rusm" "demonitor" (func $demonitor (param i64) (result i32)))
  (import "rusm" "whereis" (func $whereis (param i32 i32) (result i64)))
  (import "rusm" "spawn" (func $spawn (param i32 i32 i32 i32 i32) (result i64)))
  (import "rusm" "trap_exit" (func $trap_exit (param i32) (result i32)))
  (import "rusm" "sleep" (func $sleep (param i64)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))

  (memory (export "memory") 1)

  ;; The pool.
  (global $WORKERS i32 (i32.const 8))
  (global $N i64 (i64.const 10))          ;; increments per worker
  (global $CRASH_EVERY i32 (i32.const 4))

  ;; Where things live in memory.
  (global $JOB i32 (i32.const 512))       ;; a worker's job: [N, crash]
  (global $VALUE i32 (i32.const 528))     ;; a request's data, then its reply
  (global $CALL i32 (i32.const 544))      ;; [ref, mon]: what a call waits for
  (global $ENDS i32 (i32.const 600))      ;; [-1, mon_1 .. mon_WORKERS]
  (global $IOV i32 (i32.const 700))       ;; one iovec, then `nwritten`
  (global $DIGITS_END i32 (i32.const 752)) ;; digits are written backwards below it
  (global $LINE i32 (i32.const 1024))     ;; the output line

  (data (i32.const 0) "counter")              ;; 7
  (data (i32.const 16) "worker")              ;; 6
  (data (i32.const 32) "counter: total=")     ;; 15
  (data (i32.const 48) " (this run +")        ;; 12
  (data (i32.const 64) "; workers: ")         ;; 11
  (data (i32.const 80) " done, ")             ;; 7
  (data (i32.const 96) " crashed)\n")         ;; 10
  (data (i32.const 128) "main: the counter service is not running\n")      ;; 41
  (data (i32.const 176) "main: the counter service went down during a call\n") ;; 50
  (data (i32.const 240) "main: the counter service did not answer\n")     ;; 41
  (data (i32.const 288) "main: monitor(counter) denied: grant `allow-process-control`\n") ;; 61
  (data (i32.const 352) "main: cannot spawn a worker (is `worker` in `allow-spawn`?)\n") ;; 60
  (data (i32.const 416) "main: the workers did not finish in time\n")     ;; 41

  ;; Writes [ptr, ptr+len) to the file descriptor `fd`.
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (global.get $IOV) (local.get $ptr))
    (i32.store offset=4 (global.get $IOV) (local.get $len))
    (drop (call $fd_write (local.get $fd) (global.get $IOV) (i32.const 1)
                          (i32.add (global.get $IOV) (i32.const 8)))))

  ;; Says why on stderr and ends the run with exit code 1.
  (func $die (param $ptr i32) (param $len i32)
    (call $write (i32.const 2) (local.get $ptr) (local.get $len))
    (call $proc_exit (i32.const 1)))

  ;; Copies `len` bytes from `src` to `dst`; returns the end of the copy.
  (func $put_str (param $dst i32) (param $src i32) (param $len i32) (result i32)
    (memory.copy (local.get $dst) (local.get $src) (local.get $len))
    (i32.add (local.get $dst) (local.get $len)))

  ;; Writes `v` in decimal at `dst`; returns the end of it. Digits come out
  ;; least significant first, so they are written backwards into a scratch
  ;; area and copied over.
  (func $put_u64 (param $dst i32) (param $v i64) (result i32)
    (local $p i32)
    (local.set $p (global.get $DIGITS_END))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i64.store8 (local.get $p)
        (i64.add (i64.const 48) (i64.rem_u (local.get $v) (i64.const 10))))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (call $put_str (local.get $dst) (local.get $p)
      (i32.sub (global.get $DIGITS_END) (local.get $p))))

  ;; The counter's pid. It is resident, so it starts with the node, but it
  ;; may not be registered the very moment this root starts: retry for ~2 s.
  (func $find_counter (result i64)
    (local $pid i64)
    (local $tries i32)
    (loop $again
      (local.set $pid (call $whereis (i32.const 0) (i32.const 7)))
      (if (i64.gt_s (local.get $pid) (i64.const 0))
        (then (return (local.get $pid))))
      (call $sleep (i64.const 20))
      (local.set $tries (i32.add (local.get $tries) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $tries) (i32.const 100))))
    (call $die (i32.const 128) (i32.const 41))
    (unreachable))

  ;; One request/reply with the counter: add `delta`, get the new total.
  (func $call_counter (param $server i64) (param $delta i64) (result i64)
    (local $ref i64)
    (local $mon i64)
    (local $kind i32)
    (local.set $ref (call $make_ref))
    (local.set $mon (call $monitor (local.get $server)))
    (if (i64.lt_s (local.get $mon) (i64.const 0))
      (then (call $die (i32.const 288) (i32.const 61))))
    (i64.store (global.get $CALL) (local.get $ref))
    (i64.store offset=8 (global.get $CALL) (local.get $mon))
    (i64.store (global.get $VALUE) (local.get $delta))
    ;; A send to a dead pid fails; the monitor's `down` covers that too.
    (drop (call $send (local.get $server) (local.get $ref) (global.get $VALUE) (i32.const 8)))
    (local.set $kind (call $recv (global.get $CALL) (i32.const 2) (i64.const 5000)))
    (if (i32.eq (local.get $kind) (i32.const 2))
      (then (call $die (i32.const 176) (i32.const 50))))
    (if (i32.lt_s (local.get $kind) (i32.const 0))
      (then (call $die (i32.const 240) (i32.const 41))))
    (drop (call $msg_read (global.get $VALUE) (i32.const 8)))
    (drop (call $demonitor (local.get $mon)))
    (i64.load (global.get $VALUE)))

  (func (export "run")
    (local $before i64)
    (local $after i64)
    (local $i i32)
    (local $pid i64)
    (local $kind i32)
    (local $ended i32)
    (local $crashed i32)
    (local $end i32)

    ;; A crashing worker must not take the root down with it.
    (drop (call $trap_exit (i32.const 1)))
    (local.set $before (call $call_counter (call $find_counter) (i64.const 0)))

    ;; The pool. What the run waits for: trapped exits (tag -1) and the
    ;; workers' monitors.
    (i64.store (global.get $ENDS) (i64.const -1))
    (block $spawned
      (loop $next
        (br_if $spawned (i32.ge_u (local.get $i) (global.get $WORKERS)))
        (i64.store (global.get $JOB) (global.get $N))
        (i64.store offset=8 (global.get $JOB)
          (i64.extend_i32_u
            (i32.eq (i32.rem_u (local.get $i) (global.get $CRASH_EVERY))
                    (i32.sub (global.get $CRASH_EVERY) (i32.const 1)))))
        (local.set $pid
          (call $spawn (i32.const 16) (i32.const 6) (global.get $JOB) (i32.const 16)
                       (i32.const 1)))
        (if (i64.lt_s (local.get $pid) (i64.const 0))
          (then (call $die (i32.const 352) (i32.const 60))))
        (i64.store
          (i32.add (global.get $ENDS) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 3)))
          (call $monitor (local.get $pid)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))

    ;; A crash sends its `exit` before its `down`, so once every worker's
    ;; `down` is in, every crash has been counted. (A normal end sends no
    ;; `exit`: only abnormal reasons travel over links.)
    (block $all_ended
      (loop $wait
        (br_if $all_ended (i32.ge_u (local.get $ended) (global.get $WORKERS)))
        (local.set $kind
          (call $recv (global.get $ENDS) (i32.add (global.get $WORKERS) (i32.const 1))
                      (i64.const 30000)))
        (if (i32.lt_s (local.get $kind) (i32.const 0))
          (then (call $die (i32.const 416) (i32.const 41))))
        (if (i32.eq (local.get $kind) (i32.const 1))
          (then (local.set $crashed (i32.add (local.get $crashed) (i32.const 1)))))
        (if (i32.eq (local.get $kind) (i32.const 2))
          (then (local.set $ended (i32.add (local.get $ended) (i32.const 1)))))
        (br $wait)))

    ;; Find the counter again: the supervisor may have restarted it meanwhile.
    (local.set $after (call $call_counter (call $find_counter) (i64.const 0)))

    ;; counter: total=NNN (this run +D; workers: W done, C crashed)
    (local.set $end (call $put_str (global.get $LINE) (i32.const 32) (i32.const 15)))
    (local.set $end (call $put_u64 (local.get $end) (local.get $after)))
    (local.set $end (call $put_str (local.get $end) (i32.const 48) (i32.const 12)))
    (local.set $end (call $put_u64 (local.get $end) (i64.sub (local.get $after) (local.get $before))))
    (local.set $end (call $put_str (local.get $end) (i32.const 64) (i32.const 11)))
    (local.set $end (call $put_u64 (local.get $end) (i64.extend_i32_u (local.get $ended))))
    (local.set $end (call $put_str (local.get $end) (i32.const 80) (i32.const 7)))
    (local.set $end (call $put_u64 (local.get $end) (i64.extend_i32_u (local.get $crashed))))
    (local.set $end (call $put_str (local.get $end) (i32.const 96) (i32.const 10)))
    (call $write (i32.const 1) (global.get $LINE)
      (i32.sub (local.get $end) (global.get $LINE))))
)
