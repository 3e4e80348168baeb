//! Links: controllable TCP proxies for every cross-region connection.
