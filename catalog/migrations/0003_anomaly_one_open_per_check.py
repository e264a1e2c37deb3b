from django.db import migrations, models


class Migration(migrations.Migration):
    # Its own migration: PostgreSQL creates no index in the transaction that just wrote the rows
    # the data step of 0002 wrote ("pending trigger events").
    dependencies = [("catalog", "0002_anomaly_identity")]

    operations = [
        migrations.AddConstraint(
            model_name='anomaly',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['active', 'acknowledged'])), fields=('container', 'quality_check'), name='anomaly_one_open_per_check'),
        ),
    ]
