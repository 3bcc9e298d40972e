package io.clickflow.udf;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.catalog.DataTypeFactory;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.flink.table.types.DataType;
import org.apache.flink.table.types.inference.ArgumentTypeStrategy;
import org.apache.flink.table.types.inference.CallContext;
import org.apache.flink.table.types.inference.InputTypeStrategies;
import org.apache.flink.table.types.inference.InputTypeStrategy;
import org.apache.flink.table.types.inference.TypeInference;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.apache.flink.types.Row;

/**
 * What KDA's log parsers share: the line first, then literal arguments that say which columns come out,
 * so the result's type (a ROW of {@code COLUMN1 ... COLUMNn}, or the names given) is known when the
 * query is planned, and {@code parsed.COLUMN2} can be selected as in KDA. A line that does not parse
 * gives a NULL row (every column NULL), never an error.
 */
abstract class LogParser extends ScalarFunction {

    /** The columns of a call whose literal arguments are {@code literals} (index 1 on). */
    abstract List<String> columns(List<Object> literals);

    /** The argument types after the line: each a literal. */
    abstract InputTypeStrategy arguments();

    static List<String> numbered(int count) {
        List<String> names = new ArrayList<>();
        for (int i = 1; i <= count; i++) {
            names.add("COLUMN" + i);
        }
        return names;
    }

    static ArgumentTypeStrategy text() {
        return InputTypeStrategies.logical(LogicalTypeFamily.CHARACTER_STRING);
    }

    static ArgumentTypeStrategy literalText() {
        return InputTypeStrategies.and(InputTypeStrategies.LITERAL, text());
    }

    static Row row(List<String> values) {
        return values == null ? null : Row.of(values.toArray());
    }

    @Override
    public TypeInference getTypeInference(DataTypeFactory typeFactory) {
        return TypeInference.newBuilder()
                .inputTypeStrategy(arguments())
                .outputTypeStrategy(this::outputType)
                .build();
    }

    private Optional<DataType> outputType(CallContext call) {
        List<Object> literals = new ArrayList<>();
        for (int i = 1; i < call.getArgumentDataTypes().size(); i++) {
            Class<?> type = call.getArgumentDataTypes().get(i).getConversionClass();
            Optional<?> value = call.getArgumentValue(i, type);
            literals.add(value.orElse(null));
        }
        List<String> names;
        try {
            names = columns(literals);
        } catch (IllegalArgumentException e) {
            throw call.newValidationError("%s: %s", call.getName(), e.getMessage());
        }
        List<DataTypes.Field> fields = new ArrayList<>();
        for (String name : names) {
            fields.add(DataTypes.FIELD(name, DataTypes.STRING()));
        }
        return Optional.of(DataTypes.ROW(fields.toArray(new DataTypes.Field[0])));
    }
}
