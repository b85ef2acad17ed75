package codingbrain.neo4j;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.QueryExecutionException;
import org.neo4j.io.ByteUnit;

/**
 * Runs the Neo4j community DBMS (the real one, embedded) for the end-to-end tests.
 *
 * <p>Usage: {@code Main HOME_DIR PORT} with the neo4j user's password in the
 * environment variable NEO4J_PASSWORD. Serves Bolt on 127.0.0.1:PORT only (HTTP off),
 * prints a line starting with "READY" once Bolt accepts the password, and exits 1
 * when the DBMS cannot start (e.g. the port is taken). SIGTERM shuts it down cleanly.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: Main HOME_DIR PORT (password in NEO4J_PASSWORD)");
            System.exit(1);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);
        String password = System.getenv("NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("NEO4J_PASSWORD must be set and have at least 8 characters");
            System.exit(1);
        }

        DatabaseManagementService dbms;
        try {
            dbms = new DatabaseManagementServiceBuilder(home)
                    .setConfig(BoltConnector.enabled, true)
                    .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                    .setConfig(HttpConnector.enabled, false)
                    .setConfig(HttpsConnector.enabled, false)
                    .setConfig(GraphDatabaseSettings.auth_enabled, true)
                    .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(128))
                    // Defaults wait 2 x 5 s for Bolt connections and threads on every stop.
                    .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ZERO)
                    .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ZERO)
                    .build();
        } catch (Throwable e) {
            System.err.println("FAILED to start Neo4j: " + e);
            e.printStackTrace();
            System.exit(1);
            return;
        }

        final DatabaseManagementService running = dbms;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("shutting down");
            running.shutdown();
            System.out.println("stopped");
        }, "neo4j-shutdown"));

        try {
            setPassword(dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME), password);
            // Touch the default database so the first client query does not wait for it.
            dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).executeTransactionally("RETURN 1");
        } catch (Throwable e) {
            System.err.println("FAILED to prepare Neo4j: " + e);
            e.printStackTrace();
            System.exit(1); // the shutdown hook closes the DBMS
        }
        System.out.println("READY bolt://127.0.0.1:" + port);
    }

    /**
     * Sets the neo4j user's password on every start, so a changed NEO4J_PASSWORD takes
     * effect. Neo4j refuses to "change" a password to the one it already has; that
     * refusal means the password is already right.
     */
    private static void setPassword(GraphDatabaseService system, String password) {
        try {
            system.executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $pw CHANGE NOT REQUIRED", Map.of("pw", password));
        } catch (QueryExecutionException e) {
            String msg = String.valueOf(e.getMessage());
            if (!msg.contains("Old password and new password cannot be the same")) {
                throw e;
            }
        }
    }
}
