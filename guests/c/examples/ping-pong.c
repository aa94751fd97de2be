/*
 * ping-pong.c: a C guest that walks through most of the rusm ABI.
 *
 * One module, two manifest components (rusm.toml next to this file): the
 * process asks process_info which component it runs and takes that role.
 *
 *   rusm run ping [-- ROUNDS [give-up]]     (from guests/c/examples)
 *
 * `ping` (stdio, may spawn `pong`) names itself, sets timers, spawns `pong`
 * with a first message, monitors it and does ROUNDS request/reply round
 * trips with selective receive on (ref, monitor); then it checks a receive
 * timeout, three calls its profile denies, a crash seen through a monitor,
 * an exit seen through a trapped link, a kill and a demonitor. With a second
 * argument `give-up` it ends with an exit reason instead of normally.
 *
 * `pong` (sandboxed) answers every data message and obeys three commands:
 * CRASH (traps), EXIT (exits with the message as its reason), STOP.
 */
#include <rusm.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wasi/api.h>

/* Fixed tags are negative: refs from rusm_make_ref (and monitor refs) are
 * small positive numbers, so a positive fixed tag would sooner or later equal
 * a request's ref. -1 is a trapped link exit, 0 a spawn's first message. */
enum {
    TAG_NOISE = -10, /* a message ping sends itself */
    TAG_TIMER = -11, /* a timer that fires */
    TAG_LATE = -12,  /* a timer that is cancelled */
    TAG_CRASH = -20, /* pong: trap */
    TAG_EXIT = -21,  /* pong: rusm_exit(data) */
    TAG_STOP = -22,  /* pong: return normally */
    TAG_NEVER = -99, /* nobody sends it */
};

static char buf[1024];

/* Ends the process with "<what>: <error name>" as its reason. */
__attribute__((noreturn)) static void fail(const char *what, int64_t code) {
    printf("ping: %s -> %s\n", what, rusm_strerror(code));
    fflush(stdout);
    snprintf(buf, sizeof buf, "%s: %s", what, rusm_strerror(code));
    rusm_exit_str(buf);
}

/* Fails unless `got` == `want`. */
static void expect(const char *what, int64_t got, int64_t want) {
    if (got != want) {
        printf("ping: %s returned %lld, expected %lld\n", what, (long long)got, (long long)want);
        fail(what, got);
    }
}

/* The WASI arguments (a reactor has no main(argc, argv)); argv[0] is the
 * program name. Returns argc. */
static int args(char ***argv_out) {
    __wasi_size_t argc = 0, size = 0;
    if (__wasi_args_sizes_get(&argc, &size) != 0) return 0;
    char **argv = calloc(argc + 1, sizeof *argv);
    char *data = malloc(size ? size : 1);
    if (!argv || !data || __wasi_args_get((uint8_t **)argv, (uint8_t *)data) != 0) return 0;
    *argv_out = argv;
    return (int)argc;
}

/* The string value of "component" in our own process_info, or "". */
static const char *own_component(void) {
    static char json[512];
    static char name[64];
    int32_t n = rusm_process_info(rusm_own_pid(), json, sizeof json - 1);
    if (n < 0 || n >= (int32_t)sizeof json) return "";
    json[n] = '\0';
    const char *key = strstr(json, "\"component\":\"");
    if (!key) return ""; /* null: run as a path target */
    key += strlen("\"component\":\"");
    const char *end = strchr(key, '"');
    if (!end || end - key >= (int)sizeof name) return "";
    memcpy(name, key, end - key);
    name[end - key] = '\0';
    return name;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void pong(void) {
    char in[256], out[300];
    for (;;) {
        int32_t kind = rusm_recv(NULL, 0, RUSM_WAIT_FOREVER);
        if (kind != RUSM_KIND_DATA) continue;
        int64_t tag = rusm_msg_tag();
        rusm_msg_read_str(in, sizeof in);
        switch (tag) {
        case TAG_CRASH: __builtin_trap();
        case TAG_EXIT: rusm_exit_str(in);
        case TAG_STOP: return;
        default:
            snprintf(out, sizeof out, "pong: %s", in);
            rusm_send_str(rusm_msg_sender(), tag, out);
        }
    }
}

/* Waits up to a second for a message tagged `tag`; fails on a timeout or a
 * kind other than `kind`; leaves the data in buf. */
static void await(const char *what, int64_t tag, int32_t kind) {
    int32_t got = rusm_recv_tag(tag, 1000);
    if (got < 0) fail(what, got);
    expect(what, got, kind);
    rusm_msg_read_str(buf, sizeof buf);
}

static void ping(int argc, char **argv) {
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    int give_up = argc > 2 && strcmp(argv[2], "give-up") == 0;
    int64_t self = rusm_own_pid();
    printf("ping: self is #%lld\n", (long long)self);

    /* Names. `pong` belongs to the processes of the pong component. */
    rusm_set_label_str("c-ping");
    expect("register c-ping", rusm_register_str("c-ping"), 0);
    expect("whereis c-ping", rusm_whereis_str("c-ping"), self);
    printf("ping: register pong -> %s\n", rusm_strerror(rusm_register_str("pong")));
    expect("register c-ping again", rusm_register_str("c-ping"), RUSM_EEXISTS);

    /* A message to self that waits in the mailbox while the round trips
     * below receive selectively; a timer that fires and one cancelled. */
    expect("send to self", rusm_send_str(self, TAG_NOISE, "noise"), 0);
    int64_t timer = rusm_send_after(self, TAG_TIMER, "tick", 4, 20);
    if (timer <= 0) fail("send_after", timer);
    int64_t late = rusm_send_after(self, TAG_LATE, "late", 4, 60000);
    expect("cancel_timer pending", rusm_cancel_timer(late), 1);
    expect("cancel_timer again", rusm_cancel_timer(late), 0);

    /* Spawn by name with a first message, and monitor. */
    int64_t pid = rusm_spawn_str("pong", "hello", 0);
    if (pid < 0) fail("spawn pong", pid);
    int64_t mon = rusm_monitor(pid);
    if (mon <= 0) fail("monitor pong", mon);
    await("greeting", RUSM_TAG_SPAWN, RUSM_KIND_DATA);
    printf("ping: spawned pong #%lld, it answered \"%s\"\n", (long long)pid, buf);

    /* Request/reply: wait for the reply or pong's death, whichever first. */
    double started = now_ms();
    char req[64], want[80];
    for (long i = 0; i < rounds; i++) {
        int64_t ref = rusm_make_ref();
        int64_t tags[2] = {ref, mon};
        snprintf(req, sizeof req, "ping %ld", i);
        expect("send", rusm_send_str(pid, ref, req), 0);
        int32_t kind = rusm_recv(tags, 2, 1000);
        if (kind < 0) fail("reply", kind);
        expect("reply kind", kind, RUSM_KIND_DATA);
        expect("reply tag", rusm_msg_tag(), ref);
        expect("reply sender", rusm_msg_sender(), pid);
        rusm_msg_read_str(buf, sizeof buf);
        snprintf(want, sizeof want, "pong: %s", req);
        if (strcmp(buf, want) != 0) {
            printf("ping: reply \"%s\", expected \"%s\"\n", buf, want);
            fail("reply data", RUSM_EINVALID);
        }
    }
    double ms = now_ms() - started;
    printf("ping: %ld round trips in %.0f ms\n", rounds, ms);

    /* The timer message was skipped by every selective receive above. */
    expect("noise waiting", rusm_recv_tag(TAG_NOISE, RUSM_POLL), RUSM_KIND_DATA);
    rusm_msg_read_str(buf, sizeof buf);
    printf("ping: \"%s\" from #%lld waited in the mailbox\n", buf, (long long)rusm_msg_sender());
    await("timer", TAG_TIMER, RUSM_KIND_DATA);
    printf("ping: timer #%lld delivered \"%s\"\n", (long long)timer, buf);
    printf("ping: recv with a 50 ms timeout -> %s\n", rusm_strerror(rusm_recv_tag(TAG_NEVER, 50)));

    /* What this profile denies: answers, never traps. */
    int64_t pids[16];
    printf("ping: list_processes -> %s\n", rusm_strerror(rusm_list_processes(pids, 16)));
    printf("ping: spawn ping -> %s\n", rusm_strerror(rusm_spawn_str("ping", NULL, 0)));
    printf("ping: kv_get -> %s\n", rusm_strerror(rusm_kv_get("b", 1, "k", 1, buf, sizeof buf)));

    /* A crash, seen through the monitor. */
    expect("send crash", rusm_send(pid, TAG_CRASH, NULL, 0), 0);
    await("down", mon, RUSM_KIND_DOWN);
    printf("ping: pong #%lld down: %s\n", (long long)pid, buf);
    printf("ping: is_alive pong -> %d\n", (int)rusm_is_alive(pid));
    printf("ping: send to dead pong -> %s\n", rusm_strerror(rusm_send(pid, 1, NULL, 0)));
    int64_t again = rusm_monitor(pid);
    await("down again", again, RUSM_KIND_DOWN);
    printf("ping: monitor dead pong: down %s\n", buf);

    /* An exit reason, seen through a trapped link. */
    expect("trap_exit", rusm_trap_exit(1), 0);
    int64_t linked = rusm_spawn_str("pong", NULL, 1);
    if (linked < 0) fail("spawn linked pong", linked);
    expect("send exit", rusm_send_str(linked, TAG_EXIT, "bye"), 0);
    await("exit", RUSM_TAG_EXIT, RUSM_KIND_EXIT);
    printf("ping: linked pong #%lld exited: %s\n", (long long)rusm_msg_sender(), buf);

    /* A kill of our own child, and a demonitor. */
    int64_t victim = rusm_spawn_str("pong", NULL, 0);
    if (victim < 0) fail("spawn victim", victim);
    int64_t vmon = rusm_monitor(victim);
    expect("kill", rusm_kill(victim), 0);
    await("killed", vmon, RUSM_KIND_DOWN);
    printf("ping: killed pong #%lld: %s\n", (long long)victim, buf);
    printf("ping: demonitor after down -> %s\n", rusm_strerror(rusm_demonitor(vmon)));

    int64_t last = rusm_spawn_str("pong", NULL, 0);
    if (last < 0) fail("spawn last", last);
    int64_t lmon = rusm_monitor(last);
    expect("demonitor", rusm_demonitor(lmon), 0);
    expect("send stop", rusm_send(last, TAG_STOP, NULL, 0), 0);
    printf("ping: after demonitor -> %s\n", rusm_strerror(rusm_recv_tag(lmon, 100)));

    if (give_up) {
        printf("ping: giving up\n");
        fflush(stdout);
        rusm_exit_str("gave up on purpose");
    }
    printf("ping: done\n");
}

/* The entry point. ABI.md prefers an exported `run` to `_start`: a reactor
 * module (-mexec-model=reactor) whose `_initialize` the runtime calls first.
 * It ends the process `normal` by returning, like the Rust SDK's guests, and
 * keeps WASI's proc_exit for real exit codes only. No atexit runs, so stdout
 * is flushed here and before every rusm_exit. */
__attribute__((export_name("run"))) void run(void) {
    char **argv = NULL;
    int argc = args(&argv);
    if (strcmp(own_component(), "pong") == 0) {
        pong();
    } else {
        ping(argc, argv);
    }
    fflush(stdout);
}

