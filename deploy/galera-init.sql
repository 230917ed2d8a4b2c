-- Run once on the first Galera node of a new cluster, before the others join
-- (they receive it with their copy). mariadb -uroot (socket auth) < THIS
--   ${network}   the app hosts' network, as MariaDB writes it (10.231.7.0/255.255.255.128)
--   ${password}  the app's password
CREATE DATABASE IF NOT EXISTS chat CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
-- The app, through haproxy (its address is on that network).
CREATE USER IF NOT EXISTS 'chat'@'${network}' IDENTIFIED BY '${password}';
GRANT ALL PRIVILEGES ON chat.* TO 'chat'@'${network}';
-- haproxy's mysql-check logs in without a password and may do nothing else.
CREATE USER IF NOT EXISTS 'haproxy'@'${network}';
