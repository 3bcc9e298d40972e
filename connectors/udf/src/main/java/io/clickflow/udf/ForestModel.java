package io.clickflow.udf;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import com.amazon.randomcutforest.RandomCutForest;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.TableSemantics;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.table.types.logical.RowType;
import org.apache.flink.types.ColumnList;
import org.apache.flink.types.Row;

/**
 * What RANDOM_CUT_FOREST and RANDOM_CUT_FOREST_WITH_EXPLANATION share: KDA's parameters (defaults and
 * ranges as KDA documented them), the columns scored — the input's numeric columns but the partition keys,
 * as KDA's, or those of {@code columns => DESCRIPTOR(a, b)} (clickflow's addition) — and the forest.
 *
 * <p>KDA's {@code timeDecay} is a window in records ("how much of the recent past to consider"); the
 * library's {@code timeDecay} is the rate of the exponential sample: a point {@code n} records old is
 * kept with weight {@code exp(-rate * n)}, so the mean age of what a sampler holds is about
 * {@code 1 / rate} records. The rate is {@code 1 / timeDecay}: a window of 100,000 records is a rate of
 * 0.00001. A score is 0 until the forest has seen {@code subSampleSize} records (the library's
 * {@code outputAfter}), as KDA's was.
 */
final class ForestModel {
    static final int MAX_COLUMNS = 30;

    final int trees;
    final int subSampleSize;
    final int timeDecay;
    final int shingleSize;
    final long seed;
    final int[] columns; // the input's numeric columns, partition keys left out
    final String[] names;

    ForestModel(Integer trees, Integer subSampleSize, Integer timeDecay, Integer shingleSize, Integer seed,
            ColumnList chosen, TableSemantics semantics, String function) {
        this.trees = orDefault(trees, 100);
        this.subSampleSize = orDefault(subSampleSize, 256);
        this.timeDecay = orDefault(timeDecay, 100_000);
        this.shingleSize = orDefault(shingleSize, 1);
        this.seed = orDefault(seed, 0);
        check(this.trees >= 1 && this.trees <= 1000, function, "numberOfTrees must be 1 to 1000, got " + this.trees);
        check(this.subSampleSize >= 10 && this.subSampleSize <= 1000, function,
                "subSampleSize must be 10 to 1000, got " + this.subSampleSize);
        check(this.timeDecay > this.subSampleSize, function, "timeDecay (" + this.timeDecay
                + " records) must be more than subSampleSize (" + this.subSampleSize + ")");
        check(this.shingleSize >= 1 && this.shingleSize <= 30, function,
                "shingleSize must be 1 to 30, got " + this.shingleSize);
        columns = numericColumns(semantics, chosen, function);
        List<String> fieldNames = ((RowType) semantics.dataType().getLogicalType()).getFieldNames();
        names = Arrays.stream(columns).mapToObj(fieldNames::get).toArray(String[]::new);
        check(columns.length <= MAX_COLUMNS, function, "at most " + MAX_COLUMNS
                + " numeric columns, the input has " + columns.length + ": " + Arrays.toString(names));
    }

    /**
     * The input's columns a function reads as numbers: those of {@code chosen} (each checked to be
     * numeric), else every numeric one but the partition keys.
     */
    static int[] numericColumns(TableSemantics semantics, ColumnList chosen, String function) {
        RowType row = (RowType) semantics.dataType().getLogicalType();
        List<String> fieldNames = row.getFieldNames();
        List<Integer> numeric = new ArrayList<>();
        if (chosen != null) {
            for (String wanted : chosen.getNames()) {
                int i = fieldNames.indexOf(wanted);
                check(i >= 0, function, "columns => DESCRIPTOR(...) names " + wanted + ", which the input does not have "
                        + "(columns: " + fieldNames + ")");
                check(row.getTypeAt(i).is(LogicalTypeFamily.NUMERIC), function, "column " + wanted + " is "
                        + row.getTypeAt(i) + ", not a number");
                numeric.add(i);
            }
        } else {
            List<Integer> keys = new ArrayList<>();
            for (int key : semantics.partitionByColumns()) {
                keys.add(key);
            }
            for (int i = 0; i < row.getFieldCount(); i++) {
                if (!keys.contains(i) && row.getTypeAt(i).is(LogicalTypeFamily.NUMERIC)) {
                    numeric.add(i);
                }
            }
        }
        check(!numeric.isEmpty(), function, "the input has no numeric column to score (columns: " + fieldNames + ")");
        return numeric.stream().mapToInt(Integer::intValue).toArray();
    }

    private static int orDefault(Integer value, int otherwise) {
        return value == null ? otherwise : value;
    }

    private static void check(boolean ok, String function, String message) {
        if (!ok) {
            throw new IllegalArgumentException(function + ": " + message);
        }
    }

    /** The partition key's forest from its state, or a new one for a key not seen yet. */
    RandomCutForestScore.Model held(MapView<Integer, RandomCutForestScore.Model> state) throws Exception {
        RandomCutForestScore.Model held = state.get(RandomCutForestScore.FOREST);
        if (held == null) {
            held = new RandomCutForestScore.Model();
            held.forest = newForest();
        }
        return held;
    }

    /** A new forest for a partition key, the same for every key (the seed is the query's). */
    RandomCutForest newForest() {
        return build(columns.length, trees, subSampleSize, timeDecay, shingleSize, seed);
    }

    /** The forest KDA's parameters describe (public so a direct computation can build the same one). */
    static RandomCutForest build(int columns, int trees, int subSampleSize, int timeDecay, int shingleSize, long seed) {
        return RandomCutForest.builder()
                .dimensions(columns * shingleSize)
                .shingleSize(shingleSize)
                .internalShinglingEnabled(true)
                .numberOfTrees(trees)
                .sampleSize(subSampleSize)
                .timeDecay(1.0 / timeDecay)
                .outputAfter(subSampleSize)
                .randomSeed(seed)
                .parallelExecutionEnabled(false)
                .build();
    }

    /** The record's numeric columns, or null when one is NULL (the record is passed with a NULL score). */
    double[] point(Row input) {
        double[] point = new double[columns.length];
        for (int i = 0; i < columns.length; i++) {
            Object value = input.getField(columns[i]);
            if (value == null) {
                return null;
            }
            point[i] = ((Number) value).doubleValue();
            if (!Double.isFinite(point[i])) {
                return null;
            }
        }
        return point;
    }

    /** Each column's share of the attribution: the shingle's positions of that column added up. */
    double[][] perColumn(double[] high, double[] low) {
        double[][] out = new double[2][columns.length];
        for (int d = 0; d < high.length; d++) {
            out[0][d % columns.length] += high[d];
            out[1][d % columns.length] += low[d];
        }
        return out;
    }

    @Override
    public String toString() {
        return "forest of " + trees + " trees over " + Arrays.toString(names);
    }
}
