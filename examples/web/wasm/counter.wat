;; The resident `counter`: registered under its name, it answers every
;; message with `count N` (N from 1), sent to the pid in the first 8 bytes.
(module

  (import "rusm" "own_pid" (func $own_pid (result i64)))
  (import "rusm" "send" (func $send (param i64 i64 i32 i32) (result i32)))
  (import "rusm" "recv" (func $recv (param i32 i32 i64) (result i32)))
  (import "rusm" "msg_sender" (func $msg_sender (result i64)))
  (import "rusm" "msg_tag" (func $msg_tag (result i64)))
  (import "rusm" "msg_len" (func $msg_len (result i32)))
  (import "rusm" "msg_read" (func $msg_read (param i32 i32) (result i32)))
  (import "rusm" "make_ref" (func $make_ref (result i64)))
  (import "rusm" "sleep" (func $sleep (param i64)))
  (import "rusm" "spawn" (func $spawn (param i32 i32 i32 i32 i32) (result i64)))
  (import "rusm" "monitor" (func $monitor (param i64) (result i64)))
  (import "rusm" "trap_exit" (func $trap_exit (param i32) (result i32)))
  (import "rusm" "kill" (func $kill (param i64) (result i32)))
  (import "rusm" "exit" (func $exit (param i32 i32)))
  (import "rusm" "list_processes" (func $list_processes (param i32 i32) (result i32)))
  (import "rusm" "register" (func $register (param i32 i32) (result i32)))
  (import "rusm" "whereis" (func $whereis (param i32 i32) (result i64)))
  (import "rusm" "kv_get" (func $kv_get (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "rusm" "kv_set" (func $kv_set (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "rusm" "kv_delete" (func $kv_delete (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get"
    (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))


    (data (i32.const 1024) "counter")
    (func (export "run")
      (local $n i32) (local $len i32) (local $v i32) (local $i i32)
      (drop (call $register (i32.const 1024) (i32.const 7)))
      (loop $serve
        (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
        (drop (call $msg_read (i32.const 2048) (i32.const 8)))
        (local.set $n (i32.add (local.get $n) (i32.const 1)))
        ;; "count " then the digits of $n, written backwards from 3100.
        (i64.store (i32.const 3000) (i64.const 0x20746e756f63))
        (local.set $v (local.get $n))
        (local.set $i (i32.const 3100))
        (loop $digits
          (local.set $i (i32.sub (local.get $i) (i32.const 1)))
          (i32.store8 (local.get $i) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
          (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
          (br_if $digits (local.get $v)))
        (local.set $len (i32.sub (i32.const 3100) (local.get $i)))
        (memory.copy (i32.const 3006) (local.get $i) (local.get $len))
        (drop (call $send (i64.load (i32.const 2048)) (i64.const 1)
                          (i32.const 3000) (i32.add (i32.const 6) (local.get $len))))
        (br $serve)))
)
