/*
 * abi-check.c: imports every function rusm.h declares and calls each one
 * once with harmless arguments, printing "abi-check: <import> -> <result>".
 *
 * The module imports all 37 functions, so it starts only if every import
 * name and wasm signature in rusm.h matches what the runtime links (a
 * mismatch ends it with `failed to start: ...` before any code runs).
 * Run as a path target (no manifest, hence no components and no store).
 */
#include <rusm.h>

#include <stdio.h>

static void show(const char *name, int64_t result) {
    printf("abi-check: %s -> %s\n", name, rusm_strerror(result));
}

__attribute__((export_name("run"))) void run(void) {
    static char buf[512];
    int64_t self = rusm_own_pid();
    const int64_t nobody = 1000000000; /* never a live pid here */
    show("own_pid", self);
    int64_t ref = rusm_make_ref();
    show("make_ref", ref);
    printf("abi-check: make_ref >= RUSM_FIRST_REF -> %d\n", ref >= RUSM_FIRST_REF);

    show("send", rusm_send(self, -5, "x", 1));
    int64_t tag = -5;
    show("recv", rusm_recv(&tag, 1, RUSM_POLL));
    printf("abi-check: msg_sender is self -> %d\n", rusm_msg_sender() == self);
    printf("abi-check: msg_tag -> %lld\n", (long long)rusm_msg_tag());
    printf("abi-check: msg_len -> %d\n", (int)rusm_msg_len());
    printf("abi-check: msg_read -> %d\n", (int)rusm_msg_read(buf, sizeof buf));
    show("recv empty", rusm_recv(NULL, 0, RUSM_POLL));
    rusm_sleep(1);
    int64_t timer = rusm_send_after(self, -6, NULL, 0, 60000);
    show("send_after", timer);
    printf("abi-check: cancel_timer -> %d\n", (int)rusm_cancel_timer(timer));

    show("spawn", rusm_spawn_str("no-such-component", NULL, 0));
    show("link", rusm_link(nobody));
    show("unlink", rusm_unlink(nobody));
    int64_t mon = rusm_monitor(nobody);
    show("monitor", mon);
    show("demonitor", rusm_demonitor(mon));
    printf("abi-check: trap_exit -> %d\n", (int)rusm_trap_exit(0));
    show("kill", rusm_kill(nobody));
    printf("abi-check: is_alive self -> %d\n", (int)rusm_is_alive(self));
    int64_t pids[8];
    show("list_processes", rusm_list_processes(pids, 8));
    show("process_info", rusm_process_info(self, buf, sizeof buf));
    show("register", rusm_register_str("abi-check"));
    printf("abi-check: whereis is self -> %d\n", rusm_whereis_str("abi-check") == self);
    show("unregister", rusm_unregister_str("abi-check"));
    rusm_set_label_str("abi-check");

    show("kv_get", rusm_kv_get("b", 1, "k", 1, buf, sizeof buf));
    show("kv_set", rusm_kv_set("b", 1, "k", 1, "v", 1));
    show("kv_delete", rusm_kv_delete("b", 1, "k", 1));
    show("kv_exists", rusm_kv_exists("b", 1, "k", 1));
    show("kv_keys", rusm_kv_keys("b", 1, "", 0, buf, sizeof buf));
    show("kv_cas", rusm_kv_cas("b", 1, "k", 1, NULL, RUSM_KV_ABSENT, "v", 1));

    /* No [cluster] here: the answers of a lone node. */
    show("spawn_on", rusm_spawn_on_str("b", "no-such-component", NULL, 0));
    show("register_global", rusm_register_global_str("abi-check"));
    show("whereis_global", rusm_whereis_global_str("abi-check"));
    printf("abi-check: nodes -> %d\n", (int)rusm_nodes(buf, sizeof buf));
    show("node_of", rusm_node_of(self, buf, sizeof buf));

    printf("abi-check: exit\n");
    fflush(stdout);
    rusm_exit(NULL, 0); /* an empty reason: a normal exit */
}
