#!/usr/bin/env escript
%%! +P 4000000 -noshell
%% The BEAM's side of rusm-bench: the same scenarios, run by `erl`.
%% Usage: escript rusm_bench.escript <scenario> <n>; prints one number.
%% (The emulator flags must be on the second line.)
-mode(compile).

main(["spawn-storm", N0]) ->
    N = list_to_integer(N0),
    {T, ok} = timer:tc(fun() -> storm(N, 10000) end),
    io:format("~f~n", [N / (T / 1.0e6)]);
main(["ping-pong", N0]) ->
    N = list_to_integer(N0),
    Pong = spawn(fun pong/0),
    {T, ok} = timer:tc(fun() -> ping(Pong, N) end),
    exit(Pong, kill),
    io:format("~f~n", [N / (T / 1.0e6)]);
main(["idle-memory", N0]) ->
    N = list_to_integer(N0),
    erlang:garbage_collect(),
    Before = erlang:memory(total),
    Pids = spawn_idle(N, []),
    After = erlang:memory(total),
    io:format("~f~n", [(After - Before) / N]),
    [P ! stop || P <- Pids],
    ok;
main(_) ->
    io:format("usage: rusm_bench.escript spawn-storm|ping-pong|idle-memory N~n"),
    halt(2).

%% Spawn N processes in waves; each tells its parent it ran, then exits.
storm(0, _) -> ok;
storm(N, Wave) ->
    W = min(N, Wave),
    Self = self(),
    spawn_n(W, fun() -> Self ! done end),
    wait(W),
    storm(N - W, Wave).

spawn_n(0, _) -> ok;
spawn_n(K, F) -> spawn(F), spawn_n(K - 1, F).

wait(0) -> ok;
wait(K) -> receive done -> wait(K - 1) end.

pong() ->
    receive {From, Tag} -> From ! {pong, Tag}, pong() end.

ping(_, 0) -> ok;
ping(Pong, N) ->
    Pong ! {self(), N},
    receive {pong, N} -> ok end,
    ping(Pong, N - 1).

spawn_idle(0, Acc) -> Acc;
spawn_idle(K, Acc) ->
    P = spawn(fun() -> receive stop -> ok end end),
    spawn_idle(K - 1, [P | Acc]).
