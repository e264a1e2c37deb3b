import csv
import gzip
import io

from django.db import migrations, models


def compress(apps, schema_editor):
    """Uploads kept as a JSON list of rows become compressed CSV, as new ones are stored."""
    RunUpload = apps.get_model("activity", "RunUpload")
    for upload in RunUpload.objects.all().iterator(chunk_size=10):
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as packed:
            out = io.TextIOWrapper(packed, encoding="utf-8", newline="")
            writer = csv.writer(out)
            for row in upload.rows:
                writer.writerow(["" if value is None else value for value in row])
            out.flush()
            out.detach()
        upload.records, upload.data = len(upload.rows), buffer.getvalue()
        upload.save(update_fields=["records", "data"])


class Migration(migrations.Migration):
    dependencies = [("activity", "0004_abort_too_late")]

    operations = [
        migrations.AddField(
            model_name="runupload",
            name="records",
            field=models.PositiveIntegerField(default=0),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="runupload",
            name="data",
            field=models.BinaryField(default=b""),
            preserve_default=False,
        ),
        migrations.RunPython(compress, migrations.RunPython.noop),
    ]
