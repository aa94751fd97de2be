#!/usr/bin/env escript
%%! +P 4000000 -noshell
%% The BEAM's side of rusm-bench: the same scenarios, run by `erl` with one
%% scheduler per core (its default), as rusm-bench runs one tokio worker
%% per core.
%%
%% Usage: escript rusm_bench.escript <scenario> <n> [<in_flight>]
%% Prints `<name> <number>` lines; the first is the scenario's figure.
%% (The emulator flags must be on the second line: +P lifts the process
%% limit for idle-memory's million processes.)
-mode(compile).

main(["spawn-storm", N0, W0]) ->
    N = list_to_integer(N0),
    W = list_to_integer(W0),
    {T, ok} = timer:tc(fun() -> storm(N, W) end),
    out(value, N / (T / 1.0e6));
main(["ping-pong", N0]) ->
    N = list_to_integer(N0),
    Pong = spawn(fun pong/0),
    {T, ok} = timer:tc(fun() -> ping(Pong, N) end),
    exit(Pong, kill),
    out(value, N / (T / 1.0e6));
main(["idle-memory", N0]) ->
    N = list_to_integer(N0),
    erlang:garbage_collect(),
    settle(),
    Before = erlang:memory(total),
    RssBefore = rss(),
    spawn_idle(N),
    %% Every process has run into its receive once the run queues are empty.
    settle(),
    erlang:garbage_collect(),
    After = erlang:memory(total),
    RssAfter = rss(),
    Alive = erlang:system_info(process_count),
    out(value, (After - Before) / N),
    out(rss, (RssAfter - RssBefore) / N),
    out(process_count, Alive);
main(_) ->
    io:format(standard_error,
              "usage: rusm_bench.escript spawn-storm N IN_FLIGHT | ping-pong N | idle-memory N~n", []),
    halt(2).

out(Name, Value) -> io:format("~s ~f~n", [Name, float(Value)]).

%% Spawn N processes with trivial bodies, at most W alive at once: start W,
%% then one more for every one that reports it ran, as rusm-bench's storm
%% keeps a window of W in flight.
storm(N, W) ->
    Self = self(),
    Body = fun() -> Self ! done end,
    First = min(N, W),
    spawn_n(First, Body),
    storm_loop(N - First, First, Body).

storm_loop(0, 0, _) -> ok;
storm_loop(Left, Running, Body) ->
    receive done -> ok end,
    case Left of
        0 -> storm_loop(0, Running - 1, Body);
        _ -> spawn(Body), storm_loop(Left - 1, Running, Body)
    end.

spawn_n(0, _) -> ok;
spawn_n(K, F) -> spawn(F), spawn_n(K - 1, F).

pong() ->
    receive {From, Tag} -> From ! {pong, Tag}, pong() end.

%% Each round waits for the reply carrying its own tag (selective receive).
ping(_, 0) -> ok;
ping(Pong, N) ->
    Pong ! {self(), N},
    receive {pong, N} -> ok end,
    ping(Pong, N - 1).

%% The pids are not kept: a list of a million of them would be counted
%% against the processes.
spawn_idle(0) -> ok;
spawn_idle(K) ->
    spawn(fun() -> receive stop -> ok end end),
    spawn_idle(K - 1).

settle() ->
    case erlang:statistics(total_run_queue_lengths_all) of
        0 -> timer:sleep(200);
        _ -> timer:sleep(50), settle()
    end.

rss() ->
    {ok, Statm} = file:read_file("/proc/self/statm"),
    [_, Resident | _] = string:split(binary_to_list(Statm), " ", all),
    list_to_integer(Resident) * 4096.
