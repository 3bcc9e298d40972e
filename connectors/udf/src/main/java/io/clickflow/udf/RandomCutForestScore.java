package io.clickflow.udf;

import com.amazon.randomcutforest.RandomCutForest;
import org.apache.flink.table.annotation.ArgumentHint;
import org.apache.flink.table.annotation.ArgumentTrait;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.StateHint;
import org.apache.flink.table.api.dataview.MapView;
import org.apache.flink.table.functions.ProcessTableFunction;
import org.apache.flink.types.ColumnList;
import org.apache.flink.types.Row;

/**
 * {@code RANDOM_CUT_FOREST(input => TABLE t [PARTITION BY k], numberOfTrees, subSampleSize, timeDecay,
 * shingleSize [, seed] [, columns => DESCRIPTOR(a, b)])}: KDA's anomaly score of each record over the input's numeric columns, from AWS's
 * Random Cut Forest library. Every input column is passed through and {@code ANOMALY_SCORE} added; the
 * forest is the partition key's state (one forest for the whole input without PARTITION BY), scored
 * before it learns the record, so a record is compared with what came before it.
 */
@DataTypeHint("ROW<ANOMALY_SCORE DOUBLE>")
public class RandomCutForestScore extends ProcessTableFunction<Row> {
    static final String NAME = "RANDOM_CUT_FOREST";

    /**
     * A partition key's forest. It is held in a map state under one key ({@link #FOREST}), not in a value
     * state: Flink compares a value state before and after each call to see whether to write it, which for
     * a RAW value means serializing the whole forest on every row; a map entry is only written when put.
     */
    public static class Model {
        @DataTypeHint(value = "RAW", bridgedTo = RandomCutForest.class, rawSerializer = ForestSerializer.class)
        public RandomCutForest forest;
    }

    static final Integer FOREST = 0;

    private transient ForestModel model;

    public void eval(
            Context ctx,
            @StateHint(ttl = StateTtl.NONE) MapView<Integer, RandomCutForestScore.Model> state,
            @ArgumentHint(
                            value = {
                                ArgumentTrait.SET_SEMANTIC_TABLE,
                                ArgumentTrait.OPTIONAL_PARTITION_BY,
                                ArgumentTrait.PASS_COLUMNS_THROUGH
                            },
                            name = "input")
                    Row input,
            @ArgumentHint(name = "numberOfTrees", isOptional = true) Integer trees,
            @ArgumentHint(name = "subSampleSize", isOptional = true) Integer subSampleSize,
            @ArgumentHint(name = "timeDecay", isOptional = true) Integer timeDecay,
            @ArgumentHint(name = "shingleSize", isOptional = true) Integer shingleSize,
            @ArgumentHint(name = "seed", isOptional = true) Integer seed,
            @ArgumentHint(name = "columns", isOptional = true) ColumnList columns)
            throws Exception {
        if (model == null) {
            model = new ForestModel(trees, subSampleSize, timeDecay, shingleSize, seed, columns,
                    ctx.tableSemanticsFor("input"), NAME);
        }
        RandomCutForestScore.Model held = model.held(state);
        double[] point = model.point(input);
        if (point == null) {
            collect(Row.of((Double) null));
            return;
        }
        double score = held.forest.getAnomalyScore(point);
        held.forest.update(point);
        state.put(RandomCutForestScore.FOREST, held); // a reference on the heap backend; serialized on RocksDB
        collect(Row.of(score));
    }
}
