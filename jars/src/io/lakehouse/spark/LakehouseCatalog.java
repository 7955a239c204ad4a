package io.lakehouse.spark;

import java.util.Arrays;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.NoSuchNamespaceException;
import org.apache.spark.sql.catalyst.analysis.NoSuchTableException;
import org.apache.spark.sql.connector.catalog.Identifier;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.delta.catalog.DeltaCatalog;

/**
 * Spark's session catalog for a lakehouse without a metastore.
 *
 * <p>A name {@code <layer>.<table>} that the session catalog does not hold resolves to the Delta
 * table at {@code <tables root>/<layer>/<table>}, whose log is read only when a query uses it.
 * Storage is the truth: a table written by any session or job is visible by name at once, and a
 * session starts without registering anything. Every other operation is Delta's own catalog.
 *
 * <p>Read at each lookup from the session's SQL configuration, so they can change at run time:
 * {@code spark.lakehouse.tablesRoot} (the folder holding one folder per layer) and
 * {@code spark.lakehouse.layers} (comma-separated layer names).
 */
public class LakehouseCatalog extends DeltaCatalog {

  public static final String TABLES_ROOT = "spark.lakehouse.tablesRoot";
  public static final String LAYERS = "spark.lakehouse.layers";

  @Override
  public Table loadTable(Identifier ident) {
    return fromCatalogOrStorage(ident, name -> super.loadTable(name));
  }

  @Override
  public Table loadTable(Identifier ident, long timestamp) {
    return fromCatalogOrStorage(ident, name -> super.loadTable(name, timestamp));
  }

  @Override
  public Table loadTable(Identifier ident, String version) {
    return fromCatalogOrStorage(ident, name -> super.loadTable(name, version));
  }

  @Override
  public boolean tableExists(Identifier ident) {
    return super.tableExists(ident) || storageIdentifier(ident) != null;
  }

  /** The path identifier ({@code delta.`<location>`}) of a layer table on storage, or null. */
  public static Identifier storageIdentifier(Identifier ident) {
    SparkSession spark = SparkSession.active();
    String root = spark.conf().get(TABLES_ROOT, "");
    String[] namespace = ident.namespace();
    if (root.isEmpty() || namespace.length != 1) {
      return null;
    }
    // layer and table folders are lower-case, as Spark's default case-insensitive names expect
    String layer = namespace[0].toLowerCase(java.util.Locale.ROOT);
    if (!layers(spark).contains(layer)) {
      return null;
    }
    String location = root + "/" + layer + "/" + ident.name().toLowerCase(java.util.Locale.ROOT);
    try {
      Path log = new Path(location, "_delta_log");
      FileSystem fileSystem = log.getFileSystem(spark.sessionState().newHadoopConf());
      if (!fileSystem.exists(log)) {
        return null;
      }
    } catch (java.io.IOException unreadable) {
      return null;
    }
    return Identifier.of(new String[] {"delta"}, location);
  }

  private static Set<String> layers(SparkSession spark) {
    return Arrays.stream(spark.conf().get(LAYERS, "").split(","))
        .map(String::trim)
        .filter(layer -> !layer.isEmpty())
        .collect(Collectors.toSet());
  }

  /** Load from the session catalog; a layer table it lacks loads from its storage location. */
  private static Table fromCatalogOrStorage(Identifier ident, Function<Identifier, Table> load) {
    try {
      return load.apply(ident);
    } catch (Exception notInCatalog) {
      return load.apply(storageIdentifierOr(ident, notInCatalog));
    }
  }

  /** The storage identifier of a table the catalog lacks; otherwise rethrow the catalog's error. */
  private static Identifier storageIdentifierOr(Identifier ident, Exception notInCatalog) {
    boolean notFound =
        notInCatalog instanceof NoSuchTableException
            || notInCatalog instanceof NoSuchNamespaceException;
    Identifier onStorage = notFound ? storageIdentifier(ident) : null;
    if (onStorage != null) {
      return onStorage;
    }
    throw LakehouseCatalog.<RuntimeException>rethrow(notInCatalog);
  }

  /** Rethrow a checked exception unchanged: Scala's DeltaCatalog throws them undeclared. */
  @SuppressWarnings("unchecked")
  private static <T extends Throwable> T rethrow(Throwable error) throws T {
    throw (T) error;
  }
}
