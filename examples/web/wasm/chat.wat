;; One WebSocket connection of the chat: joins the room on its first message
;; (from the socket pid), forwards the client's text frames to the room and the
;; room's broadcasts to its socket, leaves when the client closes (tag 3).
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
    (func (export "run")
      (local $socket i64) (local $room i64) (local $len i32)
      (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
      (local.set $socket (call $msg_sender))
      (local.set $room (call $whereis (i32.const 1024) (i32.const 4)))
      (drop (call $send (local.get $room) (i64.const 10) (i32.const 0) (i32.const 0)))
      (block $closed
        (loop $serve
          (drop (call $recv (i32.const 0) (i32.const 0) (i64.const -1)))
          (local.set $len (call $msg_len))
          (drop (call $msg_read (i32.const 8192) (local.get $len)))
          (br_if $closed (i64.eq (call $msg_tag) (i64.const 3)))
          (if (i64.eq (call $msg_tag) (i64.const 1))
            (then (drop (call $send (local.get $room) (i64.const 11) (i32.const 8192) (local.get $len)))))
          (if (i64.eq (call $msg_tag) (i64.const 20))
            (then (drop (call $send (local.get $socket) (i64.const 1) (i32.const 8192) (local.get $len)))))
          (br $serve)))
      (drop (call $send (local.get $room) (i64.const 12) (i32.const 0) (i32.const 0))))
)
