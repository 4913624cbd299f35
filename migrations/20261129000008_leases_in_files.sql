-- Leases are now locks on files beside the database (src/store/leases.rs):
-- the kernel lets go of them when a process ends, so nothing renews or
-- expires them. The table they replace is no longer read.
DROP TABLE chat_leases;
