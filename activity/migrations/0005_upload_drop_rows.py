from django.db import migrations


class Migration(migrations.Migration):
    # Its own migration: PostgreSQL alters no table in the transaction that just updated it.
    dependencies = [("activity", "0005_upload_compressed")]

    operations = [migrations.RemoveField(model_name="runupload", name="rows")]
