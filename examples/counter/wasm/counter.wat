;; The counter service: a resident process that owns one durable number.
;;
;; Protocol (one request, one reply):
;;   request  tag  = a reference the caller made with `make_ref`
;;            data = how much to add, an i64 as 8 little-endian bytes
;;                   (0, or no data at all, just reads the total)
;;   reply    to the request's sender, with the request's tag,
;;            data = the new total, an i64 as 8 little-endian bytes
;;
;; The total lives in the node's key-value store (bucket `counter`, key
;; `total`), never only in this instance's memory: when the supervisor
;; restarts the service, or the node boots again tomorrow, the number is
;; still there. Each update is a compare-and-swap, so it stays correct even
;; if someone runs a second counter against the same store.
;;
;; Any storage error ends the process with a reason that says what is
;; missing: let it crash, the supervisor (and the lifecycle log) take over.
(module
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_sender" (func $msg_sender (result i64)))
  (import "rusm" "msg_tag" (func $msg_tag (result i64)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "exit" (func $exit (param i32 i32)))
  (import "rusm" "set_label" (func $set_label (param i32 i32)))
  (import "rusm" "kv_get" (func $kv_get (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "rusm" "kv_cas" (func $kv_cas (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))

  (memory (export "memory") 1)

  ;; Where things live in memory.
  (global $BUCKET i32 (i32.const 0))    ;; "counter", 7 bytes
  (global $KEY i32 (i32.const 8))       ;; "total", 5 bytes
  (global $OLD i32 (i32.const 256))     ;; the stored value, as read
  (global $NEW i32 (i32.const 264))     ;; the value to store, and the reply
  (global $REQ i32 (i32.const 272))     ;; the request's data

  (data (i32.const 0) "counter")
  (data (i32.const 8) "total")
  (data (i32.const 16) "counter service")                                  ;; 15
  (data (i32.const 32) "storage denied: grant `allow-storage` to this profile") ;; 53
  (data (i32.const 96) "no store: set `store` in rusm.toml")               ;; 34
  (data (i32.const 136) "storage call failed")                             ;; 19
  (data (i32.const 160) "corrupt total: not 8 bytes")                      ;; 26

  ;; End the process with a reason naming what went wrong.
  (func $fail (param $code i32)
    (if (i32.eq (local.get $code) (i32.const -2))
      (then (call $exit (i32.const 32) (i32.const 53))))
    (if (i32.eq (local.get $code) (i32.const -5))
      (then (call $exit (i32.const 96) (i32.const 34))))
    (call $exit (i32.const 136) (i32.const 19)))

  ;; Reads the total into $OLD. Returns 1 if the key exists, 0 if not (the
  ;; total is then 0); any other outcome ends the process.
  (func $load (result i32)
    (local $n i32)
    (local.set $n
      (call $kv_get (global.get $BUCKET) (i32.const 7) (global.get $KEY) (i32.const 5)
                    (global.get $OLD) (i32.const 8)))
    (if (i32.eq (local.get $n) (i32.const -7))
      (then
        (i64.store (global.get $OLD) (i64.const 0))
        (return (i32.const 0))))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (call $fail (local.get $n))))
    (if (i32.ne (local.get $n) (i32.const 8))
      (then (call $exit (i32.const 160) (i32.const 26))))
    (i32.const 1))

  ;; Adds $delta to the stored total and leaves the new total in $NEW.
  (func $add (param $delta i64)
    (local $exists i32)
    (local $swapped i32)
    (loop $retry
      (local.set $exists (call $load))
      (i64.store (global.get $NEW)
        (i64.add (i64.load (global.get $OLD)) (local.get $delta)))
      (if (i64.eqz (local.get $delta))
        (then (return)))
      ;; Swap only if nobody changed it since we read it; an absent key is
      ;; expected with length -1.
      (local.set $swapped
        (call $kv_cas (global.get $BUCKET) (i32.const 7) (global.get $KEY) (i32.const 5)
                      (global.get $OLD)
                      (select (i32.const 8) (i32.const -1) (local.get $exists))
                      (global.get $NEW) (i32.const 8)))
      (if (i32.lt_s (local.get $swapped) (i32.const 0))
        (then (call $fail (local.get $swapped))))
      (br_if $retry (i32.eqz (local.get $swapped)))))

  (func (export "run")
    (local $delta i64)
    (call $set_label (i32.const 16) (i32.const 15))
    ;; Fail fast: a counter that cannot reach its store is of no use, and
    ;; crashing now shows the problem in the log at boot, not at the first
    ;; request.
    (drop (call $load))
    (loop $serve
      ;; Any message; only data messages (kind 0) are requests.
      (if (i32.eqz (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
        (then
          (local.set $delta (i64.const 0))
          (if (i32.ge_s (call $msg_read (global.get $REQ) (i32.const 8)) (i32.const 8))
            (then (local.set $delta (i64.load (global.get $REQ)))))
          (call $add (local.get $delta))
          ;; The caller may be gone by now: a reply to nobody is not our problem.
          (drop (call $send (call $msg_sender) (call $msg_tag) (global.get $NEW) (i32.const 8)))))
      (br $serve)))
)
