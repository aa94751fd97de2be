%% The BEAM's side of `rusm-bench cluster-ping-pong`: the same protocol
%% between two `erl -sname` nodes on this machine, over the BEAM's own
%% distribution (TCP through epmd, the default).
%%
%% rusm-bench compiles this module with `erlc` into a temporary directory,
%% starts node B (`erl -sname B -setcookie C -noshell -pa DIR`), then runs
%%
%%     erl -sname A -setcookie C -noshell -pa DIR \
%%         -run rusm_cluster_bench main B ROUNDS PAIRS PAIR_ROUNDS
%%
%% on node A, which prints `name number` lines and halts:
%%
%% - `value`: round trips/s between one pinger on A and one pong on B, each
%%   round sending `{self(), N}` and waiting for `{pong, N}` (a selective
%%   receive on the round's number), ROUNDS of them;
%% - `p50_us`, `p99_us`: the quantiles of those round trips, every one
%%   timed with erlang:monotonic_time/0;
%% - `pairs_msgs_per_s`: PAIRS pingers on A, each with its own pong on B,
%%   each bouncing one message at a time PAIR_ROUNDS times; messages per
%%   second over all pairs, a round trip counting as two messages.
-module(rusm_cluster_bench).
-export([main/1, pong/0]).

main([B, Rounds0, Pairs0, PairRounds0]) ->
    try
        Rounds = list_to_integer(Rounds0),
        Pairs = list_to_integer(Pairs0),
        PairRounds = list_to_integer(PairRounds0),
        Node = peer_node(B),
        connect(Node, 200),
        %% The pongs are spawned on B: this module is on B's code path.
        Pong = spawn(Node, ?MODULE, pong, []),
        %% Warm the connection and both processes.
        ping(Pong, 1000),
        {Lat, T} = timed_ping(Pong, Rounds),
        exit(Pong, kill),
        Sorted = lists:sort(Lat),
        out(value, Rounds / (T / 1.0e9)),
        out(p50_us, quantile(Sorted, Rounds, 0.50) / 1000),
        out(p99_us, quantile(Sorted, Rounds, 0.99) / 1000),
        Pongs = [spawn(Node, ?MODULE, pong, []) || _ <- lists:seq(1, Pairs)],
        pairs(Pongs, 100),
        T2 = pairs(Pongs, PairRounds),
        [exit(P, kill) || P <- Pongs],
        out(pairs_msgs_per_s, 2 * Pairs * PairRounds / (T2 / 1.0e9)),
        halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "~p:~p ~p~n", [Class, Reason, Stack]),
            halt(1)
    end.

%% B's full name: the same host part as this node's.
peer_node(B) ->
    [_, Host] = string:split(atom_to_list(node()), "@"),
    list_to_atom(B ++ "@" ++ Host).

%% Node B may still be starting: try for up to 10 s.
connect(Node, 0) -> error({unreachable, Node});
connect(Node, Tries) ->
    case net_adm:ping(Node) of
        pong -> ok;
        pang -> timer:sleep(50), connect(Node, Tries - 1)
    end.

pong() ->
    receive {From, Tag} -> From ! {pong, Tag}, pong() end.

ping(_, 0) -> ok;
ping(Pong, N) ->
    Pong ! {self(), N},
    receive {pong, N} -> ok end,
    ping(Pong, N - 1).

%% Every round trip timed, in nanoseconds, and the total.
timed_ping(Pong, N) ->
    Start = erlang:monotonic_time(),
    Lat = timed_ping(Pong, N, []),
    {Lat, ns(erlang:monotonic_time() - Start)}.

timed_ping(_, 0, Acc) -> Acc;
timed_ping(Pong, N, Acc) ->
    T0 = erlang:monotonic_time(),
    Pong ! {self(), N},
    receive {pong, N} -> ok end,
    timed_ping(Pong, N - 1, [ns(erlang:monotonic_time() - T0) | Acc]).

%% One pinger per pong, all at once; the time until the last is done.
pairs(Pongs, Rounds) ->
    Self = self(),
    Start = erlang:monotonic_time(),
    [spawn(fun() -> ping(P, Rounds), Self ! done end) || P <- Pongs],
    [receive done -> ok end || _ <- Pongs],
    ns(erlang:monotonic_time() - Start).

ns(Native) -> erlang:convert_time_unit(Native, native, nanosecond).

quantile(Sorted, Len, Q) ->
    lists:nth(round((Len - 1) * Q) + 1, Sorted).

out(Name, Value) -> io:format("~s ~f~n", [Name, float(Value)]).
