package io.lakehouse.spark;

import com.microsoft.azure.synapse.ml.lightgbm.LightGBMUtils;
import com.microsoft.ml.lightgbm.SWIGTYPE_p_double;
import com.microsoft.ml.lightgbm.SWIGTYPE_p_int;
import com.microsoft.ml.lightgbm.SWIGTYPE_p_long_long;
import com.microsoft.ml.lightgbm.SWIGTYPE_p_p_void;
import com.microsoft.ml.lightgbm.SWIGTYPE_p_void;
import com.microsoft.ml.lightgbm.lightgbmlib;
import com.microsoft.ml.lightgbm.lightgbmlibConstants;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Scores rows with a LightGBM model in batches: one native predict call per batch of rows.
 *
 * <p>Rows are copied into a native row-major matrix, predicted by LightGBM's matrix predict (one
 * thread: Spark runs one task per core), and handed out with their score.
 *
 * <p>SynapseML's model transform makes one native call per row and per output column; LightGBM's
 * matrix predict amortises that call over a whole batch, which is how single-node LightGBM scores.
 * The input's first {@code keep} columns pass through; the next columns are the model's features
 * as doubles, in the model's order (null is missing, as in training). The output adds
 * {@code score}: the probability of class 1 (binary) or the predicted value (regression).
 */
public final class LightGBMBatchScorer {
  private LightGBMBatchScorer() {}

  public static Dataset<Row> score(Dataset<Row> rows, String modelText, int keep, int batchRows) {
    StructType input = rows.schema();
    int features = input.size() - keep;
    List<StructField> fields = new ArrayList<>();
    for (int i = 0; i < keep; i++) {
      fields.add(input.fields()[i]);
    }
    fields.add(DataTypes.createStructField("score", DataTypes.DoubleType, false));
    StructType output = DataTypes.createStructType(fields);
    MapPartitionsFunction<Row, Row> scorer =
        partition -> new Batches(partition, modelText, keep, features, Math.max(1, batchRows));
    return rows.mapPartitions(scorer, Encoders.row(output));
  }

  /** Reads a batch of rows, predicts it in one call, hands out the scored rows, repeats. */
  private static final class Batches implements Iterator<Row> {
    private final Iterator<Row> input;
    private final int keep;
    private final int features;
    private final int batchRows;
    private SWIGTYPE_p_double matrix;  // native, row-major: batchRows x features
    private SWIGTYPE_p_double out;
    private final List<Row> pending = new ArrayList<>();
    private final double[] scores;
    private SWIGTYPE_p_void booster;
    private int next;
    private int filled;

    Batches(Iterator<Row> input, String modelText, int keep, int features, int batchRows) {
      this.input = input;
      this.keep = keep;
      this.features = features;
      this.batchRows = batchRows;
      this.scores = new double[batchRows];
      LightGBMUtils.initializeNativeLibrary();
      SWIGTYPE_p_p_void handle = lightgbmlib.voidpp_handle();
      SWIGTYPE_p_int iterations = lightgbmlib.new_intp();
      try {
        check(lightgbmlib.LGBM_BoosterLoadModelFromString(modelText, iterations, handle), "load the model");
      } finally {
        lightgbmlib.delete_intp(iterations);
      }
      booster = lightgbmlib.voidpp_value(handle);
      matrix = lightgbmlib.new_doubleArray((long) batchRows * features);
      out = lightgbmlib.new_doubleArray(batchRows);
      TaskContext task = TaskContext.get();
      if (task != null) {
        task.addTaskCompletionListener(
            new org.apache.spark.util.TaskCompletionListener() {
              @Override
              public void onTaskCompletion(TaskContext context) {
                free();
              }
            });
      }
    }

    @Override
    public boolean hasNext() {
      if (next < filled) {
        return true;
      }
      fill();
      if (filled == 0) {
        free();
        return false;
      }
      return true;
    }

    @Override
    public Row next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      Row row = pending.get(next);
      Object[] values = new Object[keep + 1];
      for (int i = 0; i < keep; i++) {
        values[i] = row.get(i);
      }
      values[keep] = scores[next];
      next++;
      return RowFactory.create(values);
    }

    private void fill() {
      pending.clear();
      next = 0;
      filled = 0;
      while (filled < batchRows && input.hasNext()) {
        Row row = input.next();
        long offset = (long) filled * features;
        for (int j = 0; j < features; j++) {
          double value = row.isNullAt(keep + j) ? Double.NaN : row.getDouble(keep + j);
          lightgbmlib.doubleArray_setitem(matrix, offset + j, value);
        }
        pending.add(row);
        filled++;
      }
      if (filled > 0) {
        predict(filled);
      }
    }

    private void predict(int count) {
      SWIGTYPE_p_long_long length = lightgbmlib.new_int64_tp();
      try {
        check(
            lightgbmlib.LGBM_BoosterPredictForMat(
                booster, lightgbmlib.double_to_voidp_ptr(matrix), lightgbmlibConstants.C_API_DTYPE_FLOAT64,
                count, features, 1, lightgbmlibConstants.C_API_PREDICT_NORMAL, 0, -1, "num_threads=1",
                length, out),
            "predict");
        for (int i = 0; i < count; i++) {
          scores[i] = lightgbmlib.doubleArray_getitem(out, i);
        }
      } finally {
        lightgbmlib.delete_int64_tp(length);
      }
    }

    private synchronized void free() {
      if (booster != null) {
        lightgbmlib.LGBM_BoosterFree(booster);
        lightgbmlib.delete_doubleArray(matrix);
        lightgbmlib.delete_doubleArray(out);
        booster = null;
      }
    }

    private static void check(int status, String what) {
      if (status != 0) {
        throw new IllegalStateException("LightGBM could not " + what + ": " + lightgbmlib.LGBM_GetLastError());
      }
    }
  }
}
