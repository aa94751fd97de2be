;; The chat room (resident, registered as `room`): tag 10 joins the sender,
;; 11 broadcasts the data to every member (tag 20), 12 leaves.
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


    (data (i32.const 1024) "room")
    (global $members (mut i32) (i32.const 0))
    (func (export "run")
      (local $i i32) (local $len i32)
      (drop (call $register (i32.const 1024) (i32.const 4)))
      (loop $serve
        (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
        (if (i64.eq (call $msg_tag) (i64.const 10))
          (then
            (i64.store (i32.add (i32.const 2048) (i32.shl (global.get $members) (i32.const 3)))
                       (call $msg_sender))
            (global.set $members (i32.add (global.get $members) (i32.const 1)))))
        (if (i64.eq (call $msg_tag) (i64.const 12))
          (then
            (local.set $i (i32.const 0))
            (loop $find
              (if (i32.lt_u (local.get $i) (global.get $members))
                (then
                  (if (i64.eq (i64.load (i32.add (i32.const 2048) (i32.shl (local.get $i) (i32.const 3))))
                              (call $msg_sender))
                    (then (i64.store (i32.add (i32.const 2048) (i32.shl (local.get $i) (i32.const 3)))
                                     (i64.const 0))))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $find))))))
        (if (i64.eq (call $msg_tag) (i64.const 11))
          (then
            (local.set $len (call $msg_len))
            (drop (call $msg_read (i32.const 8192) (local.get $len)))
            (local.set $i (i32.const 0))
            (loop $each
              (if (i32.lt_u (local.get $i) (global.get $members))
                (then
                  (drop (call $send (i64.load (i32.add (i32.const 2048) (i32.shl (local.get $i) (i32.const 3))))
                                    (i64.const 20) (i32.const 8192) (local.get $len)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br $each))))))
        (br $serve)))
)
