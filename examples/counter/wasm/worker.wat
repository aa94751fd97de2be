;; A worker: asks the counter service to add 1, N times, then ends.
;;
;; Its spawner sends the job as the spawn argument (the worker's first
;; message): N as an i64, then a "crash afterwards" flag as an i64, both
;; little-endian. A worker with the flag set does all its work and then
;; hits `unreachable` on purpose: a pool that crashes now and then.
;;
;; Each increment is a call in the shape ABI.md gives: a fresh reference
;; tags the request, a monitor watches the server, and a selective receive
;; waits for whichever comes first, the reply or the server's death. So a
;; worker never hangs on a counter that is gone. (Monitoring a process it
;; did not spawn is process control: that is why the `worker` profile in
;; rusm.toml grants `allow-process-control`.)
(module
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "rusm" "msg_tag" (func $msg_tag (result i64)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "make_ref" (func $make_ref (result i64)))
  (import "rusm" "monitor" (func $monitor (param i64) (result i64)))
  (import "rusm" "demonitor" (func $demonitor (param i64) (result i32)))
  (import "rusm" "whereis" (func $whereis (param i32 i32) (result i64)))
  (import "rusm" "exit" (func $exit (param i32 i32)))

  (memory (export "memory") 1)

  (global $JOB i32 (i32.const 256))    ;; [N: i64, crash: i64]
  (global $ONE i32 (i32.const 272))    ;; the request's data: 1
  (global $TAGS i32 (i32.const 280))   ;; [ref, mon]: what the call waits for
  (global $REPLY i32 (i32.const 296))  ;; the new total

  (data (i32.const 0) "counter")                            ;; 7
  (data (i32.const 16) "no job: spawn me with [N, crash]")   ;; 32
  (data (i32.const 64) "the counter service is not running") ;; 34
  (data (i32.const 112) "monitor(counter) denied: grant `allow-process-control`") ;; 54
  (data (i32.const 176) "the counter service went down")    ;; 29

  ;; Adds 1 to the total through the counter at $server.
  (func $increment (param $server i64)
    (local $ref i64)
    (local $mon i64)
    (local.set $ref (call $make_ref))
    (local.set $mon (call $monitor (local.get $server)))
    (if (i64.lt_s (local.get $mon) (i64.const 0))
      (then (call $exit (i32.const 112) (i32.const 54))))
    (i64.store (global.get $TAGS) (local.get $ref))
    (i64.store offset=8 (global.get $TAGS) (local.get $mon))
    (if (i32.lt_s (call $send (local.get $server) (local.get $ref) (global.get $ONE) (i32.const 8))
                  (i32.const 0))
      (then (call $exit (i32.const 64) (i32.const 34))))
    ;; The reply (kind 0, tag ref) or the server's `down` (kind 2, tag mon).
    (if (i32.eq (call $recv (global.get $TAGS) (i32.const 2) (i64.const -1)) (i32.const 2))
      (then (call $exit (i32.const 176) (i32.const 29))))
    (drop (call $msg_read (global.get $REPLY) (i32.const 8)))
    (drop (call $demonitor (local.get $mon))))

  (func (export "run")
    (local $n i64)
    (local $server i64)
    ;; The job: the spawn argument, already waiting as the first message.
    (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
    (if (i32.lt_s (call $msg_read (global.get $JOB) (i32.const 16)) (i32.const 16))
      (then (call $exit (i32.const 16) (i32.const 32))))
    (local.set $n (i64.load (global.get $JOB)))
    (i64.store (global.get $ONE) (i64.const 1))

    (local.set $server (call $whereis (i32.const 0) (i32.const 7)))
    (if (i64.lt_s (local.get $server) (i64.const 0))
      (then (call $exit (i32.const 64) (i32.const 34))))

    (block $done
      (loop $next
        (br_if $done (i64.le_s (local.get $n) (i64.const 0)))
        (call $increment (local.get $server))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))

    ;; The work is done (and durable); now crash if asked to.
    (if (i64.ne (i64.load offset=8 (global.get $JOB)) (i64.const 0))
      (then unreachable)))
)
