//! HAProxy in front of the instances (`balancer = "haproxy"`).
