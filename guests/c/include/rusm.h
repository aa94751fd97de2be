/*
 * rusm.h: the core-module ABI of RUSM (import module "rusm"), for C guests.
 *
 * The contract is /work/shared/spec/ABI.md, version 0.1 ("The core-module
 * ABI"). Every import listed there is declared here, one to one, with the
 * wasm types the ABI gives it:
 *
 *   i64 (pid, tag, ref, timer id, milliseconds)  -> int64_t
 *   i32 (length, count, flag, result)            -> int32_t
 *   i32 pointer into the exported `memory`       -> a C pointer (32 bits on
 *                                                   wasm32, checked below)
 *
 * The C names carry a `rusm_` prefix because several bare names (send, kill,
 * exit, sleep, link, unlink, register) collide with libc/POSIX; the wasm
 * import names are the bare ABI names, set by `import_name`.
 *
 * Results: a negative int32_t/int64_t is one of the RUSM_E* codes below; pids,
 * monitor references, refs and timer ids are always > 0.
 *
 * Build with clang --target=wasm32-wasi (see guests/c/build.sh). A module
 * that passes pointers must export its memory as `memory` (wasm-ld does by
 * default).
 *
 * Entry point: export `void run(void)` (preferred by the ABI) or be a WASI
 * command (`_start`, i.e. a C `main`). With `run` and wasi-libc, link as a
 * reactor (-mexec-model=reactor): the runtime calls `_initialize` first. A
 * reactor has no atexit, so fflush(stdout) before returning or rusm_exit().
 */
#ifndef RUSM_H
#define RUSM_H

#include <stdint.h>
#include <string.h>

#if !defined(__wasm32__)
#error "rusm.h is for wasm32 guests (clang --target=wasm32-wasi)"
#endif

_Static_assert(sizeof(void *) == 4, "rusm.h: pointers must be wasm32 i32");

#ifdef __cplusplus
extern "C" {
#endif

#define RUSM_IMPORT(name) __attribute__((import_module("rusm"), import_name(#name)))

/* ---- Error codes (negative return values) ---------------------------- */

#define RUSM_ENO_PROCESS (-1) /* no live process with that pid */
#define RUSM_EDENIED     (-2) /* the capabilities do not allow the call */
#define RUSM_EINVALID    (-3) /* malformed argument (e.g. name not UTF-8) */
#define RUSM_ETIMEOUT    (-4) /* the deadline passed */
#define RUSM_ENO_STORE   (-5) /* storage granted, but the node has no store */
#define RUSM_EEXISTS     (-6) /* the name is taken */
#define RUSM_ENOT_FOUND  (-7) /* no such component, name, timer or key */
#define RUSM_ELIMIT      (-8) /* a resource limit was reached */

/* ---- Other constants ---------------------------------------------------- */

/* Message kinds, as returned by rusm_recv. */
#define RUSM_KIND_DATA 0
#define RUSM_KIND_EXIT 1 /* a trapped link exit (see rusm_trap_exit) */
#define RUSM_KIND_DOWN 2 /* a monitor's down message; tag = the monitor ref */

/* Tags with a fixed meaning. Refs from rusm_make_ref, monitor refs and
 * timer ids are never below 2^32 (RUSM_FIRST_REF), so an application's own
 * fixed tags are safe within 32 bits; negative ones (other than -1) are safe
 * whatever the numbering. */
#define RUSM_FIRST_REF (INT64_C(1) << 32)
#define RUSM_TAG_EXIT  (-1) /* tag of a trapped link exit; data = the reason */
#define RUSM_TAG_SPAWN 0    /* tag of a spawn's arg, the child's first message */

/* rusm_recv timeouts (milliseconds otherwise). */
#define RUSM_WAIT_FOREVER (-1) /* any negative value waits forever */
#define RUSM_POLL         0    /* only look, never wait */

/* rusm_kv_cas: an exp_len that expects the key to be absent. */
#define RUSM_KV_ABSENT (-1)

/* ---- Identity and messages ---------------------------------------------- */

/* The caller's pid. */
RUSM_IMPORT(own_pid) int64_t rusm_own_pid(void);

/* Enqueues (ptr, len) with `tag` in the mailbox of `to`; never blocks.
 * 0, RUSM_ENO_PROCESS, or RUSM_ELIMIT (over the node's size cap, or the
 * target's bounded mailbox is full). */
RUSM_IMPORT(send) int32_t rusm_send(int64_t to, int64_t tag, const void *ptr, int32_t len);

/* Waits for the first message whose tag is one of tags[0..tags_count] (a
 * count of 0 matches any message), leaving the others in order. timeout_ms
 * < 0 waits forever, 0 only polls. Returns its kind (RUSM_KIND_*), or
 * RUSM_ETIMEOUT. The message becomes the current message, read with
 * rusm_msg_*. */
RUSM_IMPORT(recv) int32_t rusm_recv(const int64_t *tags, int32_t tags_count, int64_t timeout_ms);

/* The current message's sender, tag, data length. */
RUSM_IMPORT(msg_sender) int64_t rusm_msg_sender(void);
RUSM_IMPORT(msg_tag) int64_t rusm_msg_tag(void);
RUSM_IMPORT(msg_len) int32_t rusm_msg_len(void);

/* Copies at most `cap` bytes of the current message's data to buf; returns
 * the full length (retry with a larger buffer when it is > cap). */
RUSM_IMPORT(msg_read) int32_t rusm_msg_read(void *buf, int32_t cap);

/* A number (> 0) unique within the node, to tag a request and its reply. */
RUSM_IMPORT(make_ref) int64_t rusm_make_ref(void);

/* Sleeps this process (not the node). */
RUSM_IMPORT(sleep) void rusm_sleep(int64_t ms);

/* Sends (ptr, len) with `tag` to `to` after delay_ms; returns a timer id. */
RUSM_IMPORT(send_after)
int64_t rusm_send_after(int64_t to, int64_t tag, const void *ptr, int32_t len, int64_t delay_ms);

/* 1 if the timer was still pending (it is now cancelled), else 0. */
RUSM_IMPORT(cancel_timer) int32_t rusm_cancel_timer(int64_t id);

/* ---- Processes ------------------------------------------------------------ */

/* Spawns the manifest component `name` (needs allow-spawn). A non-empty arg
 * is the child's first message (kind data, tag 0, sender = the caller). With
 * link != 0 the child is linked to the caller before it runs. Returns the
 * child's pid, or RUSM_EDENIED, RUSM_ENOT_FOUND, RUSM_ELIMIT. */
RUSM_IMPORT(spawn)
int64_t rusm_spawn(const char *name, int32_t name_len, const void *arg, int32_t arg_len, int32_t link);

/* 0, RUSM_ENO_PROCESS, RUSM_EDENIED. */
RUSM_IMPORT(link) int32_t rusm_link(int64_t pid);
RUSM_IMPORT(unlink) int32_t rusm_unlink(int64_t pid);

/* A monitor reference (> 0): a `down` message (kind 2, tag = the reference,
 * data = the reason) arrives when `pid` ends; a dead pid gets one at once
 * with reason "noproc". Negative: an error code. */
RUSM_IMPORT(monitor) int64_t rusm_monitor(int64_t pid);

/* 0, RUSM_ENOT_FOUND. */
RUSM_IMPORT(demonitor) int32_t rusm_demonitor(int64_t ref);

/* on != 0: exits of linked processes arrive as messages (kind 1, tag -1,
 * data = the reason) instead of ending the caller. Returns the previous
 * setting. */
RUSM_IMPORT(trap_exit) int32_t rusm_trap_exit(int32_t on);

/* Ends `pid` with reason "killed" (not trappable). 0, RUSM_ENO_PROCESS,
 * RUSM_EDENIED. */
RUSM_IMPORT(kill) int32_t rusm_kill(int64_t pid);

/* Ends the caller; does not return. An empty reason is a normal exit, any
 * other ends it with "crashed: <reason>". Flush stdio first. */
RUSM_IMPORT(exit) __attribute__((noreturn)) void rusm_exit(const char *reason, int32_t reason_len);

/* 1 or 0. */
RUSM_IMPORT(is_alive) int32_t rusm_is_alive(int64_t pid);

/* Writes up to cap_count pids; returns the full count, or RUSM_EDENIED
 * (needs allow-process-control). */
RUSM_IMPORT(list_processes) int32_t rusm_list_processes(int64_t *buf, int32_t cap_count);

/* Writes a JSON object (the fields of `process-info` in rusm.wit, snake_case:
 * pid, component, label, names, links, monitored_by, mailbox_len, trap_exit,
 * memory_bytes), not NUL-terminated; returns its full length, or
 * RUSM_ENO_PROCESS, RUSM_EDENIED. */
RUSM_IMPORT(process_info) int32_t rusm_process_info(int64_t pid, char *buf, int32_t cap);

/* Names the caller / drops a name. 0, RUSM_EEXISTS, RUSM_ENOT_FOUND,
 * RUSM_EDENIED (a manifest component's name belongs to its processes). */
RUSM_IMPORT(register) int32_t rusm_register(const char *name, int32_t name_len);
RUSM_IMPORT(unregister) int32_t rusm_unregister(const char *name, int32_t name_len);

/* The pid registered under name, or RUSM_ENOT_FOUND. */
RUSM_IMPORT(whereis) int64_t rusm_whereis(const char *name, int32_t name_len);

/* Sets the caller's label (shown in process_info and the log). */
RUSM_IMPORT(set_label) void rusm_set_label(const char *label, int32_t len);

/* ---- Storage (needs allow-storage; else RUSM_EDENIED, or RUSM_ENO_STORE
 *      when the node has no store). Buckets and keys are UTF-8. ---------- */

/* The value's full length (copies at most cap bytes), or RUSM_ENOT_FOUND. */
RUSM_IMPORT(kv_get)
int32_t rusm_kv_get(const char *bucket, int32_t bucket_len, const char *key, int32_t key_len,
                    void *buf, int32_t cap);

/* 0 once durable. */
RUSM_IMPORT(kv_set)
int32_t rusm_kv_set(const char *bucket, int32_t bucket_len, const char *key, int32_t key_len,
                    const void *value, int32_t value_len);

/* 1 if it existed, else 0. */
RUSM_IMPORT(kv_delete)
int32_t rusm_kv_delete(const char *bucket, int32_t bucket_len, const char *key, int32_t key_len);

/* 1 or 0. */
RUSM_IMPORT(kv_exists)
int32_t rusm_kv_exists(const char *bucket, int32_t bucket_len, const char *key, int32_t key_len);

/* The keys starting with prefix, in order, each as a little-endian u32
 * length then its bytes; copies at most cap bytes, returns the full size. */
RUSM_IMPORT(kv_keys)
int32_t rusm_kv_keys(const char *bucket, int32_t bucket_len, const char *prefix, int32_t prefix_len,
                     void *buf, int32_t cap);

/* Sets key to value if its value is (expected, expected_len); expected_len ==
 * RUSM_KV_ABSENT expects the key to be absent. 1 if swapped, else 0. */
RUSM_IMPORT(kv_cas)
int32_t rusm_kv_cas(const char *bucket, int32_t bucket_len, const char *key, int32_t key_len,
                    const void *expected, int32_t expected_len, const void *value, int32_t value_len);

/* ---- Clusters (CLUSTER.md). On a node outside a cluster: spawn_on,
 *      register_global and node_of return RUSM_ENO_PROCESS, whereis_global
 *      RUSM_ENOT_FOUND, nodes 0 (no names). ---------------------------- */

/* Spawns the registered component `name` on `node`, under that node's
 * declared profile (it runs only its `remote = true` components). The caller
 * needs allow-spawn covering name. A non-empty arg is the child's first
 * message; link != 0 links it to the caller. The child's pid, or
 * RUSM_EDENIED, RUSM_ENOT_FOUND, RUSM_ELIMIT, RUSM_ENO_PROCESS (node
 * unreachable), RUSM_EINVALID (an empty or non-UTF-8 node or name). */
RUSM_IMPORT(spawn_on)
int64_t rusm_spawn_on(const char *node, int32_t node_len, const char *name, int32_t name_len,
                      const void *arg, int32_t arg_len, int32_t link);

/* Names the caller in the whole cluster (needs allow-global-names); returns
 * once every reachable node accepted it. 0, RUSM_EEXISTS, RUSM_EDENIED,
 * RUSM_ELIMIT, RUSM_EINVALID, RUSM_ENO_PROCESS (no cluster). */
RUSM_IMPORT(register_global) int32_t rusm_register_global(const char *name, int32_t name_len);

/* The pid holding a global name, on whichever node, or RUSM_ENOT_FOUND. */
RUSM_IMPORT(whereis_global) int64_t rusm_whereis_global(const char *name, int32_t name_len);

/* The reachable nodes' names, this one included, each as a little-endian u32
 * length then its bytes; copies at most cap bytes, returns the full size. */
RUSM_IMPORT(nodes) int32_t rusm_nodes(void *buf, int32_t cap);

/* The name of pid's node (not NUL-terminated); copies at most cap bytes,
 * returns its full length, or RUSM_ENO_PROCESS. */
RUSM_IMPORT(node_of) int32_t rusm_node_of(int64_t pid, char *buf, int32_t cap);

/* ---- Conveniences: C strings instead of (ptr, len) pairs ------------------ */

static inline int32_t rusm_send_str(int64_t to, int64_t tag, const char *s) {
    return rusm_send(to, tag, s, (int32_t)strlen(s));
}

/* Spawns `name` with a C-string arg ("" or NULL: no first message). */
static inline int64_t rusm_spawn_str(const char *name, const char *arg, int32_t link) {
    return rusm_spawn(name, (int32_t)strlen(name), arg, arg ? (int32_t)strlen(arg) : 0, link);
}

static inline int32_t rusm_register_str(const char *name) {
    return rusm_register(name, (int32_t)strlen(name));
}

static inline int32_t rusm_unregister_str(const char *name) {
    return rusm_unregister(name, (int32_t)strlen(name));
}

static inline int64_t rusm_whereis_str(const char *name) {
    return rusm_whereis(name, (int32_t)strlen(name));
}

/* spawn_on with C strings ("" or NULL arg: no first message). */
static inline int64_t rusm_spawn_on_str(const char *node, const char *name, const char *arg,
                                        int32_t link) {
    return rusm_spawn_on(node, (int32_t)strlen(node), name, (int32_t)strlen(name), arg,
                         arg ? (int32_t)strlen(arg) : 0, link);
}

static inline int32_t rusm_register_global_str(const char *name) {
    return rusm_register_global(name, (int32_t)strlen(name));
}

static inline int64_t rusm_whereis_global_str(const char *name) {
    return rusm_whereis_global(name, (int32_t)strlen(name));
}

static inline void rusm_set_label_str(const char *label) {
    rusm_set_label(label, (int32_t)strlen(label));
}

/* Ends the caller with `reason` ("" is a normal exit). Flush stdio first. */
__attribute__((noreturn)) static inline void rusm_exit_str(const char *reason) {
    rusm_exit(reason, (int32_t)strlen(reason));
}

/* Waits for one message tagged `tag`; its kind, or RUSM_ETIMEOUT. */
static inline int32_t rusm_recv_tag(int64_t tag, int64_t timeout_ms) {
    return rusm_recv(&tag, 1, timeout_ms);
}

/* Copies the current message's data into buf as a NUL-terminated string,
 * truncated to cap - 1 bytes (cap must be > 0); returns the full length. */
static inline int32_t rusm_msg_read_str(char *buf, int32_t cap) {
    int32_t full = rusm_msg_read(buf, cap - 1);
    buf[full < 0 ? 0 : full < cap - 1 ? full : cap - 1] = '\0';
    return full;
}

/* The ABI's name of an error code ("denied", ...), for messages. */
static inline const char *rusm_strerror(int64_t code) {
    switch (code) {
    case RUSM_ENO_PROCESS: return "no process";
    case RUSM_EDENIED: return "denied";
    case RUSM_EINVALID: return "invalid";
    case RUSM_ETIMEOUT: return "timeout";
    case RUSM_ENO_STORE: return "no store";
    case RUSM_EEXISTS: return "exists";
    case RUSM_ENOT_FOUND: return "not found";
    case RUSM_ELIMIT: return "limit";
    default: return code < 0 ? "unknown error" : "ok";
    }
}

#ifdef __cplusplus
}
#endif

#endif /* RUSM_H */
